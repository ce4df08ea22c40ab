"""The published 70/15/15 split (split_data in the published datasets/utils.py), written out
plainly: the reference the data tests compare the pipelines with."""
import sklearn.model_selection


def split_70_15_15(t, y):
  """(train, validation, test) parts of `t`, stratified by the labels `y`, as published."""
  a, rest, _, rest_y = sklearn.model_selection.train_test_split(
      t, y, train_size=0.7, random_state=0, shuffle=True, stratify=y)
  b, c = sklearn.model_selection.train_test_split(
      rest, train_size=0.5, random_state=1, shuffle=True, stratify=rest_y)
  return a, b, c
