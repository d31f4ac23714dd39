import pytest

from aim.core.params import as_path, delete_path, get_path, leaf_keys, set_path


def test_set_get_delete_nested():
    tree: dict = {}
    set_path(tree, ("hp",), {"lr": 0.1, "opt": {"name": "adam"}})
    set_path(tree, ("hp", "opt", "beta"), 0.9)
    assert get_path(tree, ("hp", "opt")) == {"name": "adam", "beta": 0.9}
    copy = get_path(tree, ("hp",))
    copy["lr"] = 99
    assert tree["hp"]["lr"] == 0.1
    assert delete_path(tree, ("hp", "opt", "name"))
    assert not delete_path(tree, ("hp", "missing"))
    assert not delete_path(tree, ("nope", "x"))
    with pytest.raises(KeyError):
        get_path(tree, ("hp", "opt", "name"))


def test_setting_below_a_leaf_replaces_it_with_a_dict():
    tree = {"a": 1}
    set_path(tree, ("a", "b"), 2)
    assert tree == {"a": {"b": 2}}


def test_leaf_keys_are_dotted():
    assert sorted(leaf_keys({"hp": {"lr": 1, "opt": {"b": [1]}}, "e": {}})) == ["e", "hp.lr", "hp.opt.b"]


@pytest.mark.parametrize("bad", ["", (), ("a", 1), 5, ("a", "")])
def test_bad_keys(bad):
    with pytest.raises(KeyError):
        as_path(bad)
