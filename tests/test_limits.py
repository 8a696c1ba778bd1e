"""The server's limits: the defaults train what a laptop and a GPU server should and refuse what would take either
down, each refusal naming the limit and its value; the sources (secrets, environment, the teacher's) layer in order."""

from __future__ import annotations

import pytest

from ffviz.config import RunConfig
from ffviz.server.limits import LimitError, Limits, check_run, count_parameters

DEFAULT = Limits()


@pytest.mark.parametrize("cfg", [
    RunConfig(preset="classroom", epochs=10),                                        # the classroom on a laptop
    RunConfig(dataset="cifar10", preset="resnet17", batch_size=128, epochs=150),     # the paper on a GPU server
    RunConfig(dataset="mnist", preset="classroom", epochs=20),
])
def test_the_defaults_allow_what_classrooms_and_the_paper_run(cfg):
    check_run(cfg, DEFAULT)


@pytest.mark.parametrize(("changes", "limit", "value"), [
    ({"widths": (20_000,)}, "max_parameters", "50,000,000"),
    ({"widths": (2000, 4000)}, "max_parameters", "50,000,000"),
    ({"widths": (10 ** 7,)}, "max_parameters", "50,000,000"),
    ({"dataset": "cifar10", "image_size": 256}, "max_image_size", "64 px"),
    ({"epochs": 10 ** 9}, "max_epochs", "300"),
    ({"batch_size": 100_000}, "max_batch_size", "1,024"),
    ({"eval_batch_size": 100_000}, "max_batch_size", "1,024"),
    ({"dataset": "tiny-imagenet"}, "max_dataset_bytes", "2 GiB"),
])
def test_a_run_beyond_a_limit_is_refused_naming_it(changes, limit, value):
    with pytest.raises(LimitError, match=f"limit {limit} is {value}"):
        check_run(RunConfig(**changes), DEFAULT)


def test_sessions_the_queue_and_the_disk_are_bounded():
    cfg = RunConfig()
    check_run(cfg, DEFAULT, owner_active=1, queued=7, runs_bytes=DEFAULT.max_runs_bytes)
    with pytest.raises(LimitError, match="max_runs_per_owner is 2"):
        check_run(cfg, DEFAULT, owner_active=2)
    with pytest.raises(LimitError, match="max_queue is 8"):
        check_run(cfg, DEFAULT, queued=8)
    with pytest.raises(LimitError, match="max_runs_bytes is 5 GiB"):
        check_run(cfg, DEFAULT, runs_bytes=DEFAULT.max_runs_bytes + 1)
    check_run(cfg, DEFAULT, runs_bytes=DEFAULT.max_runs_bytes + 1, new_run=False)  # a continuation adds no folder


def test_parameters_are_counted_without_building_the_network():
    # 20,000 channels: 54 GiB of parameters if allocated; the meta device allocates nothing.
    assert count_parameters(RunConfig(widths=(20_000,))) > 3 * 10 ** 9
    from ffviz.method.model.build import build_network
    from ffviz.method.model.build import count_parameters as real

    cfg = RunConfig(preset="classroom-mini", image_size=8)
    assert count_parameters(cfg) == real(build_network(cfg, in_channels=1, num_classes=10, image_size=8))


def test_sources_layer_secrets_then_environment_then_the_teacher():
    limits, notes = Limits.from_sources({"FFVIZ_LIMIT_MAX_EPOCHS": "50", "FFVIZ_LIMIT_MAX_QUEUE": "lots"},
                                        {"max_epochs": 20, "max_parameters": "1_000_000", "wings": 3},
                                        {"max_runs_per_owner": 1})
    assert (limits.max_epochs, limits.max_parameters, limits.max_runs_per_owner) == (50, 1_000_000, 1)
    assert limits.max_queue == DEFAULT.max_queue  # the bad value is skipped, said in a note
    assert any("max_queue='lots'" in n for n in notes) and any("wings" in n for n in notes)
    with pytest.raises(ValueError, match="max_epochs=0"):
        Limits(max_epochs=0)
