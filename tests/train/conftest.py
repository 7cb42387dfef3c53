"""Shared fixtures for the training tests: a real S3 API (moto's server) on 127.0.0.1.

`s3_mirror_url` gives a fresh, empty s3://bucket/prefix per test, with the environment pointing every AWS
client at the local server (AWS_ENDPOINT_URL, dummy credentials), so code under test, and any subprocess it
starts, reaches it through a plain s3:// URL with no storage_options. `s3_storage_options` gives the same
endpoint explicitly for code that passes options instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
S3_ENV_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE",
                "AWS_SHARED_CREDENTIALS_FILE")


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """http://127.0.0.1:PORT of a moto S3 server, started once per test session and stopped at its end."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point AWS clients (boto3, s3fs, subprocesses) at the local server with dummy credentials; returns the URL."""
    for key in S3_ENV_UNSET:
        monkeypatch.delenv(key, raising=False)
    for key, value in {**S3_ENV, "AWS_ENDPOINT_URL": s3_endpoint_url, "AWS_ENDPOINT_URL_S3": s3_endpoint_url}.items():
        monkeypatch.setenv(key, value)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # an instance cached before the env changed would use the old endpoint
    return s3_endpoint_url


@pytest.fixture
def s3_storage_options(s3_env: str) -> dict:
    """fsspec storage_options that name the local endpoint explicitly."""
    return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": s3_env,
                                                                   "region_name": "us-east-1"}}


@pytest.fixture
def s3_mirror_url(s3_env: str) -> str:
    """s3://<fresh bucket>/run: an empty mirror location on the local S3 server."""
    import boto3

    bucket = f"ft-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/run"
