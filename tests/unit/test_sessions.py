"""Sessions made by ``new_session`` share botocore's loaded data, and nothing else."""

from __future__ import annotations

import boto3

from hookhaven.aws.sessions import new_session


def test_sessions_share_one_loader_whose_paths_never_grow():
    first = new_session(region_name="eu-west-1")
    paths = list(first._session.get_component("data_loader").search_paths)
    for _ in range(3):
        later = new_session(
            region_name="us-east-2", aws_access_key_id="a", aws_secret_access_key="b"
        )
    loader = later._session.get_component("data_loader")
    assert loader is first._session.get_component("data_loader")
    assert loader.search_paths == paths
    assert paths == [*boto3.Session()._session.get_component("data_loader").search_paths]
    # Everything else is the session's own.
    assert (first.region_name, later.region_name) == ("eu-west-1", "us-east-2")
    credentials = later.get_credentials()
    assert credentials is not None
    assert credentials.access_key == "a"
    assert later._session is not first._session


def test_clients_and_resources_work_from_a_shared_loader():
    session = new_session(region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
    client = session.client("sqs", endpoint_url="http://127.0.0.1:9")
    assert client.meta.region_name == "eu-west-1"
    table = session.resource("dynamodb", endpoint_url="http://127.0.0.1:9").Table("t")
    assert table.name == "t"  # boto3's resource models are on the shared paths


def test_a_data_path_setting_gets_its_own_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = new_session(region_name="eu-west-1")
    loader = session._session.get_component("data_loader")
    assert loader.search_paths[0] == str(tmp_path)
    monkeypatch.delenv("AWS_DATA_PATH")
    assert new_session()._session.get_component("data_loader") is not loader
