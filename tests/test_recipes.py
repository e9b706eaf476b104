"""Each recipe's stages equal what the shipped model's card records."""

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

from mne_piunet import read_model
from mne_piunet.training import TrainConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def recipes():
    sys.path.insert(0, str(RECIPES))
    try:
        yield {name: importlib.import_module(name) for name in ("small", "default")}
    finally:
        sys.path.remove(str(RECIPES))


def _chain(card):
    """The training cards of a network's stages, first stage first."""
    chain = []
    while card:
        chain.append(card)
        card = card.get("pretrained")
    return chain[::-1]


def _assert_stages_match(stages, card):
    chain = _chain(card)
    assert len(stages) == len(chain)
    for (name, config, _), stage in zip(stages, chain, strict=True):
        recorded = TrainConfig.from_dict(stage["config"])
        # the card's n_steps is the cap the run was given; steps what it ran
        recorded = dataclasses.replace(recorded, n_steps=stage["steps"])
        assert config == recorded, name


def test_small_recipe_equals_card(recipes):
    model = read_model("small")
    _assert_stages_match(recipes["small"].STAGES, model.info["training"])


def test_default_recipe_equals_card(recipes):
    default = recipes["default"]
    members = read_model("default").info["ensemble"]["members"]
    assert len(members) == len(default.MEMBERS)
    by_name = {name: (name, config, start) for name, config, start in default.STAGES}
    for name, card in zip(default.MEMBERS, members, strict=True):
        stages = [by_name[name]]
        while stages[0][2] is not None:
            stages.insert(0, by_name[stages[0][2]])
        _assert_stages_match(stages, card["training"])
