# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-pytorch-path gpu-check clean

install: $(STAMP)

# Re-installs only when requirements.txt changes.
$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

run: install
	$(PY) run_experiment.py $(ARGS)

# One test file per worker (module fixtures run once), two workers: most of the suite is
# interpreter start-up and waiting on subprocesses, which overlap well on two cores.
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# The model, speed, reference and C-kernel tests again with the C kernels off: the pure-PyTorch
# path that every GPU and every machine without a C compiler runs. CI runs it after `make test`.
PYTORCH_PATH_TESTS := tests/test_ckconv.py tests/test_speed_paths.py tests/test_model.py \
                      tests/test_reference.py tests/test_native.py
test-pytorch-path: install
	CKCONV_NATIVE=0 $(PY) -m pytest -q $(PYTORCH_PATH_TESTS)

# The GPU path in one table: tests on CUDA, benchmark, training (scripts/gpu_check.py). Without
# a GPU it says so and exits 0; ARGS="--smoke" runs the same steps tiny on the CPU.
gpu-check: install
	$(PY) scripts/gpu_check.py $(ARGS)

clean:
	rm -rf $(VENV)
