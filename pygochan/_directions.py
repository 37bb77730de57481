"""The types of channel direction views: ``ch.recv_only()`` and
``ch.send_only()`` (Go's ``<-chan T`` and ``chan<- T``).

Both are Protocols: a full ``Channel[T]`` is also each of them.
"""

from __future__ import annotations

from typing import Iterator, Optional, Protocol, Tuple, TypeVar, Union

from ._core import ChannelStats, Context

__all__ = ["RecvOnlyChannel", "SendOnlyChannel"]

T_co = TypeVar("T_co", covariant=True)
T_contra = TypeVar("T_contra", contravariant=True)


class RecvOnlyChannel(Protocol[T_co]):
    """The type of ``ch.recv_only()`` (Go's ``<-chan T``): receiving only.

    A full ``Channel[T]`` is also a ``RecvOnlyChannel[T]``, as in Go::

        def consume(results: gc.RecvOnlyChannel[int]) -> int:
            return sum(results)
    """

    def recv(self, *, timeout: Optional[float] = None, ctx: Optional[Context] = None) -> T_co: ...
    def recv_ok(
        self, *, timeout: Optional[float] = None, ctx: Optional[Context] = None
    ) -> Union[Tuple[T_co, bool], Tuple[None, bool]]: ...
    def iter(self, *, ctx: Optional[Context] = None) -> Iterator[T_co]: ...
    def __iter__(self) -> Iterator[T_co]: ...
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def stats(self) -> ChannelStats: ...


class SendOnlyChannel(Protocol[T_contra]):
    """The type of ``ch.send_only()`` (Go's ``chan<- T``): sending and
    closing only::

        def produce(out: gc.SendOnlyChannel[int]) -> None:
            out.send(1)
            out.close()
    """

    def send(
        self, value: T_contra, *, timeout: Optional[float] = None, ctx: Optional[Context] = None
    ) -> None: ...
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def stats(self) -> ChannelStats: ...
