"""The system panel: CPU and memory, and the GPU where there is one, sampled off the UI thread."""

from __future__ import annotations

import sys
import time

from textual import work
from textual.widgets import Static


class SystemPanel(Static):
    """CPU and memory (psutil), GPU utilisation and memory where there is one; sampled off the UI thread."""

    def __init__(self, live: bool = True, **kwargs) -> None:
        super().__init__("system: …", **kwargs)
        self.live = live

    def on_mount(self) -> None:
        self._timer = None
        self._primed = False
        if not self.live:
            self.update("[b]system[/b]\nCPU –\nmemory –\nGPU –")
            return
        self.sample()
        self._timer = self.set_interval(3.0, self.sample)

    def pause(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def resume(self) -> None:
        if self._timer is not None:
            self._timer.resume()

    @work(thread=True, exclusive=True, group="system", exit_on_error=False)
    def sample(self) -> None:
        import psutil

        if not self._primed:  # psutil's first cpu_percent compares with nothing and says 0
            self._primed = True
            psutil.cpu_percent(interval=None)
            time.sleep(0.5)
        cpu = psutil.cpu_percent(interval=None)
        mem = psutil.virtual_memory()
        lines = [
            "[b]system[/b]",
            f"CPU {cpu:4.0f}% of {psutil.cpu_count()} cores",
            f"memory {mem.used / 2**30:.1f}/{mem.total / 2**30:.1f} GiB",
            gpu_line(),
        ]
        self.app.call_from_thread(self.update, "\n".join(lines), layout=False)


def gpu_line() -> str:
    """nvidia-smi when present (utilisation and memory), else torch's own counters if torch is loaded."""
    from synthsign_tui.engine.device import gpu_usage

    usage = gpu_usage()
    if usage is not None:
        util, used, total = usage
        return f"GPU {util:.0f}% · {used / 1024:.1f}/{total / 1024:.1f} GiB"
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                used = torch.cuda.memory_allocated() / 2**30
                total = torch.cuda.get_device_properties(0).total_memory / 2**30
                return f"GPU {used:.1f}/{total:.1f} GiB (torch)"
        except Exception:  # a broken CUDA setup must not break the panel
            return "GPU unavailable"
    return "GPU none"
