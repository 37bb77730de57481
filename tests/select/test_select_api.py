"""The case constructors gc.recv / gc.send and select's arguments: bad input
gives clear errors; case objects behave as Python objects should."""
import pytest

import pygochan as gc


@pytest.mark.parametrize("bad", [1, "ch", object(), [gc.Channel()]])
def test_case_needs_a_channel_or_none(bad):
    with pytest.raises(TypeError, match="Channel or None"):
        gc.recv(bad)
    with pytest.raises(TypeError, match="Channel or None"):
        gc.send(bad, 1)


def test_send_case_needs_two_arguments():
    with pytest.raises(TypeError):
        gc.send(gc.Channel())


@pytest.mark.parametrize("bad", [1, None, gc.Channel(), (gc.recv(None),)])
def test_select_rejects_non_cases(bad):
    with pytest.raises(TypeError, match="select"):
        gc.select(gc.recv(None), bad, default=True)


def test_select_keyword_errors():
    ch = gc.Channel(1)
    with pytest.raises(TypeError, match="default"):
        gc.select(gc.recv(ch), default=1)
    with pytest.raises(ValueError, match="timeout"):
        gc.select(gc.recv(ch), default=True, timeout=1)
    with pytest.raises(TypeError, match="unexpected keyword"):
        gc.select(gc.recv(ch), block=False)


def test_cases_cannot_be_built_directly():
    with pytest.raises(TypeError):
        gc.RecvCase(gc.Channel())
    with pytest.raises(TypeError):
        gc.SendCase(gc.Channel(), 1)


def test_case_attributes_and_repr():
    ch = gc.Channel()
    r, s = gc.recv(ch), gc.send(ch, 42)
    assert r.channel is ch and s.channel is ch and s.value == 42
    assert gc.recv(None).channel is None
    assert repr(s).startswith("pygochan.send(<pygochan.Channel") and repr(s).endswith(", 42)")
    with pytest.raises(AttributeError):
        s.value = 1
