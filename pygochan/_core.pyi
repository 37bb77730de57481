"""Type stubs for pygochan's C core (channels and select)."""

from types import GenericAlias
from typing import Any, Final, Generic, Iterator, NamedTuple, Optional, Tuple, TypeVar, Union

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

UNBOUNDED: Final[int]

class ChannelClosed(Exception):
    """Send on a closed channel, second close, recv on a closed and drained channel."""

class Channel(Generic[T]):
    """A Go channel for threads.

    >>> ch: Channel[int] = Channel(3)
    >>> ch.send(1)
    >>> ch.recv()
    1
    """

    def __init__(self, capacity: int = 0) -> None: ...
    def send(self, value: T, *, timeout: Optional[float] = None) -> None: ...
    def recv(self, *, timeout: Optional[float] = None) -> T: ...
    def recv_ok(
        self, *, timeout: Optional[float] = None
    ) -> Union[Tuple[T, bool], Tuple[None, bool]]: ...
    def close(self) -> None: ...
    def __iter__(self) -> Iterator[T]: ...
    def __next__(self) -> T: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def __class_getitem__(cls, item: Any) -> GenericAlias: ...

class RecvCase(Generic[T_co]):
    """A receive case for select(); made by recv(ch)."""

    @property
    def channel(self) -> Optional[Channel[Any]]: ...

class SendCase(Generic[T_co]):
    """A send case for select(); made by send(ch, value)."""

    @property
    def channel(self) -> Optional[Channel[Any]]: ...
    @property
    def value(self) -> T_co: ...

class SelectResult(NamedTuple):
    """What select() chose: (index, value, ok)."""

    # The field shadows tuple.index(), as it does at run time.
    index: int  # type: ignore[assignment]
    value: Any
    ok: bool

def recv(ch: Optional[Channel[T]]) -> RecvCase[T]: ...
def send(ch: Optional[Channel[T]], value: T) -> SendCase[T]: ...
def select(
    *cases: Union[RecvCase[Any], SendCase[Any]],
    default: bool = False,
    timeout: Optional[float] = None,
) -> SelectResult: ...

class Timer:
    """Go's time.Timer: c receives time.monotonic() once, `seconds` from now.

    >>> t = Timer(0.5)
    >>> t.stop()
    True
    """

    def __init__(self, seconds: float) -> None: ...
    @property
    def c(self) -> Channel[float]: ...
    def stop(self) -> bool: ...
    def reset(self, seconds: float) -> bool: ...

class Ticker:
    """Go's time.Ticker: c receives time.monotonic() every `interval` seconds.

    >>> tk = Ticker(0.5)
    >>> tk.stop()
    """

    def __init__(self, interval: float) -> None: ...
    @property
    def c(self) -> Channel[float]: ...
    def stop(self) -> None: ...
    def reset(self, interval: float) -> None: ...

def after(seconds: float) -> Channel[float]: ...
