"""The drop pattern: never block the hot path; shed load when the buffer is full.

Go:
    select {
    case logs <- line:
    default:
        dropped++
    }
"""
import threading

import pygochan as gc


def main() -> None:
    logs: "gc.Channel[str]" = gc.Channel(10)
    dropped = 0
    for i in range(100):          # nobody is reading yet: the buffer fills up
        index, _, _ = gc.select(gc.send(logs, f"line {i}"), default=True)
        if index == -1:
            dropped += 1
    assert len(logs) == 10 and dropped == 90
    logs.close()
    kept: "list[str]" = []
    reader = threading.Thread(target=lambda: kept.extend(logs))
    reader.start()
    reader.join()
    assert kept == [f"line {i}" for i in range(10)]
    print(f"kept {len(kept)} lines, dropped {dropped} without ever blocking")


if __name__ == "__main__":
    main()
