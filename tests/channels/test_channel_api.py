"""Channel: bad input gives clear errors; channels behave as Python objects
should."""
import copy
import gc as pygc
import math
import pickle
import types
import weakref

import pytest

import pygochan as gc
from conftest import join_all, start, wait_for


@pytest.mark.parametrize("bad", ["3", 3.0, True, False, None, [1], object(), 1j])
def test_capacity_must_be_an_int(bad):
    with pytest.raises(TypeError, match="capacity"):
        gc.Channel(bad)
    with pytest.raises(TypeError, match="capacity"):
        gc.Channel(capacity=bad)


def test_capacity_accepts_int_subclasses_and_index_free_ints():
    class MyInt(int):
        pass

    assert gc.Channel(MyInt(3)).capacity == 3
    assert gc.Channel(0).capacity == 0
    assert gc.Channel(-1).capacity == gc.UNBOUNDED


def test_unbounded_constant():
    assert gc.UNBOUNDED == -1 and type(gc.UNBOUNDED) is int


@pytest.mark.parametrize("bad", [-2, -100, -(2**70)])
def test_negative_capacity_other_than_unbounded(bad):
    with pytest.raises(ValueError):
        gc.Channel(bad)


def test_huge_capacity_is_a_value_error_and_large_ones_are_lazy():
    with pytest.raises(ValueError):
        gc.Channel(2**80)
    ch = gc.Channel(10**12)  # the buffer grows on demand
    ch.send(1)
    assert ch.capacity == 10**12 and ch.recv() == 1


def test_capacity_keyword():
    assert gc.Channel(capacity=2).capacity == 2


@pytest.mark.parametrize("bad", ["1", [1], True, False, object(), 1j, b"1"])
def test_timeout_type(bad):
    ch = gc.Channel(1)
    for call in (lambda: ch.send(1, timeout=bad), lambda: ch.recv(timeout=bad),
                 lambda: ch.recv_ok(timeout=bad), lambda: gc.select(gc.recv(ch), timeout=bad)):
        with pytest.raises(TypeError, match="timeout"):
            call()
    assert len(ch) == 0


@pytest.mark.parametrize("bad", [-1, -0.001, math.nan, -math.inf])
def test_timeout_value(bad):
    ch = gc.Channel(1)
    for call in (lambda: ch.send(1, timeout=bad), lambda: ch.recv(timeout=bad),
                 lambda: gc.select(gc.recv(ch), timeout=bad)):
        with pytest.raises(ValueError, match="timeout"):
            call()
    assert len(ch) == 0


def test_hugely_negative_int_timeout_is_a_value_error():
    ch = gc.Channel(1)
    ch.send("kept")
    with pytest.raises(ValueError, match="timeout"):
        ch.recv(timeout=-(10**400))
    assert len(ch) == 1


def test_hugely_positive_int_timeout_means_forever():
    ch = gc.Channel(1)
    ch.send("v", timeout=10**400)
    assert ch.recv(timeout=10**400) == "v"


def test_infinite_timeout_means_forever():
    ch = gc.Channel(1)
    ch.send(1, timeout=math.inf)
    assert ch.recv(timeout=math.inf) == 1


def test_bad_timeout_has_no_effect():
    full, empty = gc.Channel(1), gc.Channel(1)
    full.send("kept")
    for bad in ("1", -1, math.nan, True):
        with pytest.raises((TypeError, ValueError)):
            empty.send("x", timeout=bad)
        with pytest.raises((TypeError, ValueError)):
            full.recv(timeout=bad)
        with pytest.raises((TypeError, ValueError)):
            full.recv_ok(timeout=bad)
        with pytest.raises((TypeError, ValueError)):
            gc.select(gc.recv(full), gc.send(empty, "x"), timeout=bad)
    assert len(empty) == 0 and len(full) == 1 and full.recv() == "kept"


def test_timeout_none_means_blocking_and_is_accepted():
    ch = gc.Channel(1)
    ch.send(1, timeout=None)
    assert ch.recv(timeout=None) == 1
    ch.send(2)
    assert ch.recv_ok(timeout=None) == (2, True)
    ch.send(3)
    assert gc.select(gc.recv(ch), timeout=None) == (0, 3, True)


def test_argument_errors():
    ch = gc.Channel(1)
    with pytest.raises(TypeError):
        ch.send()
    with pytest.raises(TypeError):
        ch.send(1, 2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ch.send(1, timout=1)
    with pytest.raises(TypeError):
        ch.recv(1)
    with pytest.raises(TypeError):
        ch.close(1)


def test_not_picklable_or_copyable():
    ch = gc.Channel(1)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(ch, proto)
    with pytest.raises(TypeError):
        copy.copy(ch)
    with pytest.raises(TypeError):
        copy.deepcopy(ch)


def test_weakref_and_gc_tracking():
    ch = gc.Channel()
    ref = weakref.ref(ch)
    assert ref() is ch
    assert pygc.is_tracked(ch)
    del ch
    assert ref() is None


def test_properties_are_read_only():
    ch = gc.Channel(2)
    with pytest.raises(AttributeError):
        ch.capacity = 5
    with pytest.raises(AttributeError):
        ch.closed = True
    with pytest.raises((AttributeError, TypeError)):
        del ch.capacity
    with pytest.raises((AttributeError, TypeError)):
        del ch.closed
    with pytest.raises(AttributeError):
        ch.some_new_attribute = 1  # no __dict__
    assert ch.capacity == 2 and ch.closed is False


def test_channel_closed_messages():
    ch = gc.Channel()
    ch.close()
    with pytest.raises(gc.ChannelClosed) as info:
        ch.send(1)
    assert "send on closed channel" in str(info.value)
    with pytest.raises(gc.ChannelClosed) as info:
        ch.close()
    assert "close of closed channel" in str(info.value)
    with pytest.raises(gc.ChannelClosed) as info:
        gc.select(gc.send(ch, 1))
    assert "send on closed channel" in str(info.value)
    with pytest.raises(gc.ChannelClosed):
        ch.recv()


def test_channel_closed_is_an_ordinary_exception():
    assert issubclass(gc.ChannelClosed, Exception)
    assert not issubclass(gc.ChannelClosed, (TimeoutError, KeyboardInterrupt))
    e = gc.ChannelClosed("message")
    assert str(e) == "message"
    with pytest.raises(Exception):
        raise e


def test_generic_alias():
    alias = gc.Channel[int]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is gc.Channel and alias.__args__ == (int,)
    assert gc.Channel[str].__args__ == (str,)

    def annotated(ch: "gc.Channel[int]") -> "gc.Channel[str]":
        return ch

    assert annotated.__annotations__["ch"] == "gc.Channel[int]"
    # the alias still builds channels
    ch = gc.Channel[int](2)
    assert isinstance(ch, gc.Channel) and ch.capacity == 2


def test_repr_shows_state():
    ch = gc.Channel(16)
    ch.send(1)
    ch.send(2)
    text = repr(ch)
    assert text.startswith("<pygochan.Channel ") and text.endswith(">")
    for piece in ("capacity=16", "len=2", "closed=False", "waiting_senders=0",
                  "waiting_receivers=0"):
        assert piece in text
    ch.close()
    assert "closed=True" in repr(ch)
    assert "capacity=UNBOUNDED" in repr(gc.Channel(gc.UNBOUNDED))
    assert "capacity=0" in repr(gc.Channel())


def test_repr_counts_blocked_threads():
    ch = gc.Channel()
    threads = [start(ch.recv_ok, timeout=10) for _ in range(2)]
    wait_for(lambda: "waiting_receivers=2" in repr(ch))
    assert "waiting_senders=0" in repr(ch)
    ch.close()
    join_all(threads)
    full = gc.Channel(1)
    full.send(0)
    threads = [start(gc.select, gc.send(full, 1), timeout=0.5) for _ in range(3)]
    wait_for(lambda: "waiting_senders=3" in repr(full))
    assert "len=1" in repr(full)
    join_all(threads, check_errors=False)  # they time out
    assert "waiting_senders=0" in repr(full)


def test_exception_hierarchy_and_exports():
    assert issubclass(gc.ChannelClosed, Exception)
    assert gc.ChannelClosed.__module__ == "pygochan"
    assert gc.Channel.__module__ == "pygochan"
    for name in gc.__all__:
        assert hasattr(gc, name)


def test_channel_cannot_be_subclassed():
    with pytest.raises(TypeError):
        type("MyChannel", (gc.Channel,), {})
