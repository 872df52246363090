"""The monitoring kernel's results do not depend on how the work is split or how the rows arrive: input
row order, categorical or text columns, the size of the funnel and SPC calls, the number of worker
processes. (The kernel is tuned for speed in these ways; none of them may change a figure.)"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest

from carelens.ingest.synth import write_synthetic
from carelens.monitor import kernel
from carelens.monitor.inputs import attach_peer_groups, parquet_inputs
from carelens.monitor.service import compute_pass
from carelens.monitor.settings import load_settings


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic(out, 400, 6, 30, seed=7)
    return out


@pytest.fixture(scope="module")
def observations(synthetic):
    inputs = parquet_inputs(synthetic)
    frame = inputs.reader.read(sorted(inputs.indicators), None, None)
    return inputs, attach_peer_groups(frame, inputs.organisations, inputs.comparisons(load_settings()))


def test_row_order_and_column_types_do_not_change_the_result(observations):
    inputs, frame = observations
    settings = load_settings()
    expected = kernel.assess(frame, inputs.comparisons(settings), settings)
    assert len(expected) > 2000 and (expected["flag_code"] > 0).any() and expected["spc_alert"].any()
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    as_text = shuffled.astype({c: object for c in ("indicator_id", "org_code", "peer_group")})
    in_order = as_text.sort_values(["indicator_id", "org_code", "period"], kind="stable")
    for variant in (shuffled, as_text, in_order):
        pd.testing.assert_frame_equal(
            kernel.assess(variant, inputs.comparisons(settings), settings), expected
        )


def test_a_categorical_whose_categories_are_not_sorted_is_read_in_sorted_order(observations):
    inputs, frame = observations
    settings = load_settings()
    expected = kernel.assess(frame, inputs.comparisons(settings), settings)
    names = list(frame["org_code"].cat.categories)
    scrambled = frame.assign(
        org_code=frame["org_code"].cat.reorder_categories(names[::-1]).cat.add_categories(["unused"])
    )
    got = kernel.assess(scrambled, inputs.comparisons(settings), settings)
    pd.testing.assert_frame_equal(got, expected)
    assert got["indicator_id"].is_monotonic_increasing
    assert got.groupby("indicator_id")["org_code"].agg(lambda s: s.is_monotonic_increasing).all()


@pytest.mark.parametrize("spc_measure", ["relative", "value"])
def test_small_spc_calls_give_the_same_result(observations, monkeypatch, spc_measure):
    inputs, frame = observations
    settings = dataclasses.replace(load_settings(), spc_measure=spc_measure)
    expected = kernel.assess(frame, inputs.comparisons(settings), settings)
    monkeypatch.setattr(kernel, "SPC_CHUNK_ROWS", 500)  # a few series per XmR call
    pd.testing.assert_frame_equal(kernel.assess(frame, inputs.comparisons(settings), settings), expected)


def test_blocks_cover_every_item_once():
    sizes = np.array([300, 300, 0, 300, 300, 50])
    blocks = kernel._blocks(sizes, 650)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(sizes)
    assert all(a < b for a, b in blocks)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(blocks))
    assert kernel._blocks(np.array([10]), 4) == [(0, 1)]


def test_worker_processes_give_the_same_pass(synthetic):
    inputs = parquet_inputs(synthetic)
    settings = dataclasses.replace(load_settings(), indicators_per_batch=2)
    one = compute_pass(inputs, settings, special_measures=["R000001"])
    two = compute_pass(inputs, settings, special_measures=["R000001"], workers=2)
    assert one.results_digest == two.results_digest and one.inputs_digest == two.inputs_digest
    assert one.observations == two.observations
    pd.testing.assert_frame_equal(one.flags, two.flags)
