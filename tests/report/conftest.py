"""The local S3 server fixtures of tests/train/conftest.py (moto on 127.0.0.1), for the team-ledger tests."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("_train_conftest", Path(__file__).parents[1] / "train" / "conftest.py")
_train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_train)
s3_endpoint_url, s3_env = _train.s3_endpoint_url, _train.s3_env
