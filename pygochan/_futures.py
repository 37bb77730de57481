"""Future: the ``concurrent.futures.Future`` that ``Pool.submit`` returns.

Its state machine and its waits are C (``_core._FutureBase``); this module
defines the class itself, with the methods that await it from asyncio, and
hands it to the C core, which makes the futures of every pool of this type.
"""

from __future__ import annotations

import concurrent.futures as _cf
from typing import TYPE_CHECKING, Any, Generator, Optional, TypeVar

from . import _aio, _core

__all__ = ["Future"]

_T = TypeVar("_T")


class Future(_core._FutureBase, _cf.Future[_T]):
    """A concurrent.futures.Future whose waits release the GIL, take timeout=
    and ctx=, and answer Ctrl-C.  Pool.submit returns one; a bare Future()
    is a one-shot result slot any thread may settle.

        fut = gc.Future()
        threading.Thread(target=fut.set_result, args=(42,)).start()
        fut.result(timeout=1)   # 42

    A failed future that is garbage-collected without anyone reading its
    exception reports it through sys.unraisablehook."""

    __slots__ = ()
    # the name it is known by, as for the classes the C core defines
    __module__ = "pygochan"

    if TYPE_CHECKING:
        # C (_core._FutureBase), with ctx= beside concurrent.futures' timeout
        def __init__(self) -> None: ...
        def result(self, timeout: Optional[float] = None, *,
                   ctx: Optional[_core.Context] = None) -> _T: ...
        def exception(self, timeout: Optional[float] = None, *,
                      ctx: Optional[_core.Context] = None) -> Optional[BaseException]: ...

    def __await__(self) -> Generator[Any, None, _T]:
        # A receive on the future's done channel: awaiting (or cancelling the
        # await) never cancels the job itself.
        yield from _core._aop_closed(self, None, None).__await__()
        return self.result(timeout=0)

    async def aresult(self, timeout: Optional[float] = None, *,
                      ctx: Optional[_core.Context] = None) -> _T:
        """``result()`` for coroutines.

        Suspends the task until the future settles; never cancels the job::

            value = await fut.aresult(timeout=5)
        """
        await _aio._wait_closed(self, timeout, ctx)  # TimeoutError: the class result() raises
        return self.result(timeout=0)


_core._set_future_type(Future)
