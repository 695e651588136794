"""Every example in examples/ is run end to end by a test (a user copies them first): the list below names
that test, and this test fails when an example has none (add a test that runs it against the real server and
checks what its comment says it does, then list it here) or when the test named is gone."""

from __future__ import annotations

import re

from tests.running import EXAMPLES, ROOT

#: example (file or project folder in examples/) -> the test that runs it, as path::function
RUN_BY = {
    "aggregate.yaml": "tests/core/test_examples.py::test_aggregate_example_sums_revenue_per_user_and_minute",
    "amqp_queue_to_jetstream.yaml": "tests/messaging/test_examples.py::"
                                    "test_amqp_queue_to_jetstream_routes_by_type_and_the_stream_drops_repeated_job_ids",
    "control_plane_ticker.yaml": "tests/images/test_image.py::test_control_plane_and_agent_run_a_pipeline",
    "dead_letters.yaml": "tests/core/stateful/test_cli_test_and_dlq.py::"
                         "test_dlq_replay_feeds_fixed_records_back_with_their_original_metadata",
    "enrich.yaml": "tests/core/test_examples.py::test_enrich_example_adds_profiles_drops_repeats_and_throttles",
    "es_incremental_export.yaml": "tests/es/test_examples.py::test_the_incremental_export_example_runs",
    "es_logs_to_daily_indices.yaml": "tests/es/test_examples.py::"
                                     "test_logs_to_daily_indices_follows_the_files_into_one_index_per_service_and_day",
    "http_api_to_file.yaml": "tests/http/test_examples.py::"
                             "test_http_api_to_file_pages_through_the_api_with_its_token_into_the_file",
    "http_file_to_collector.yaml": "tests/http/test_examples.py::"
                                   "test_http_file_to_collector_ships_gzipped_ndjson_of_500_and_keeps_what_the_"
                                   "collector_refused",
    "http_webhook_to_amqp.yaml": "tests/messaging/test_examples.py::"
                                 "test_http_webhook_to_amqp_answers_once_rabbitmq_has_the_message",
    "kafka_exactly_once.yaml": "tests/kafka/test_examples_and_docs.py::"
                               "test_exactly_once_example_masks_cards_in_transactions_that_commit_the_offsets",
    "kafka_orders_to_kafka.yaml": "tests/kafka/test_examples_and_docs.py::test_orders_example_runs_end_to_end",
    "nats_jetstream_to_file.yaml": "tests/messaging/test_examples.py::"
                                   "test_nats_jetstream_to_file_archives_orders_and_acks_each_once_written",
    "nats_to_amqp_bridge.yaml": "tests/messaging/test_examples.py::"
                                "test_nats_to_amqp_bridge_routes_events_by_kind_into_a_topic_exchange",
    "quickstart.yaml": "tests/core/test_cli.py::test_quickstart_runs_and_prints_a_summary",
    "s3_archive_logs.yaml": "tests/s3/test_s3_sink.py::test_the_archive_example_runs",
    "s3_replay_to_elasticsearch.yaml": "tests/e2e/test_examples.py::"
                                       "test_s3_replay_to_elasticsearch_indexes_each_archived_event_once_however_"
                                       "often_it_runs",
    "stdin_to_stdout.yaml": "tests/core/test_cli.py::test_stdin_to_stdout",
    "forum": "tests/e2e/test_forum_project.py::test_every_comment_of_every_post_of_every_board_arrives_exactly_once",
    "forum-kafka": "tests/e2e/test_examples.py::"
                   "test_forum_kafka_project_normalizes_comments_into_the_topic_and_indexes_them",
    "conduix-example-plugin": "tests/core/test_plugins.py::test_example_plugin_package_is_installed_and_runs",
}


def examples() -> set[str]:
    """Pipelines (not their ``.test.yaml`` unit tests, run by ``conduix test`` with them), projects and plugin
    packages; examples/data and the Python modules the pipelines name are what they read."""
    pipelines = {p.name for p in EXAMPLES.glob("*.yaml") if not p.name.endswith(".test.yaml")}
    folders = {p.name for p in EXAMPLES.iterdir() if p.is_dir() and p.name != "data"}
    return pipelines | folders


def test_every_example_is_run_by_a_test_that_exists() -> None:
    assert sorted(examples() - RUN_BY.keys()) == [], "examples no test runs (add one, and list it in RUN_BY)"
    assert sorted(RUN_BY.keys() - examples()) == [], "RUN_BY lists examples that are gone"
    for example, test in RUN_BY.items():
        path, function = test.split("::")
        assert re.search(rf"^def {function}\(", (ROOT / path).read_text(), re.M), f"{example}: {test} is gone"
