"""Published test accuracies (%) of ResNet, InceptionTime and ROCKET on the UEA/UCR sets sktime
bundles, each on the archive's official TRAIN/TEST split; scripts/results_table.py sets them
beside a suite's runs (scripts/uea_suite.py).

Sources:
- ACSF1, ArrowHead, BasicMotions, GunPoint, ItalyPowerDemand, OSULeaf: tsml-eval's published
  results (github.com/time-series-machine-learning/tsml-eval), fold 0 (the official split).
- PLAID: ROCKET from its authors' results (github.com/angus924/rocket, results/results_ucr.csv);
  InceptionTime from its authors' results (github.com/hfawaz/InceptionTime); ResNet from
  dl-4-tsc (github.com/hfawaz/dl-4-tsc, results/).
- JapaneseVowels: ResNet from dl-4-tsc, the mean of its 10 runs; no published InceptionTime or
  ROCKET number is used.
A value not published for a set is missing (None), never filled in.
"""
from typing import Dict, Optional

MODELS = ('ResNet', 'InceptionTime', 'ROCKET')

# {set: (ResNet, InceptionTime, ROCKET)}, test accuracy in %.
_ACCURACIES = {
    'ACSF1': (93.00, 91.00, 88.00),
    'ArrowHead': (81.14, 86.29, 82.29),
    'BasicMotions': (100.0, 100.0, 100.0),
    'GunPoint': (99.33, 100.0, 100.0),
    'ItalyPowerDemand': (96.50, 96.60, 96.99),
    'OSULeaf': (97.93, 92.15, 94.21),
    'PLAID': (94.04, 94.41, 90.26),
    'JapaneseVowels': (99.2, None, None),
}

PUBLISHED: Dict[str, Dict[str, Optional[float]]] = {
    name: dict(zip(MODELS, values)) for name, values in _ACCURACIES.items()}


def published(name: str, model: str) -> Optional[float]:
  """The published test accuracy (%) of `model` on set `name`, or None where there is none."""
  return PUBLISHED.get(name, {}).get(model)
