"""verify: shell-first media verification.

The Python API is the product; the CLI is one client of it::

    from verify import open_archive
    from verify.services import cases

    archive = open_archive(home="/tmp/demo", actor="alice")
    case = cases.open_case(archive, "Alleged FRL video", claims=["depicts the FRL"])

Heavy modules (SQLModel, PyAV, numpy) are imported lazily so `verify --help` stays fast.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from verify.archive import Archive, open_archive

__all__ = ["Archive", "__version__", "open_archive"]


def __getattr__(name: str) -> Any:
    if name in ("Archive", "open_archive"):
        from verify import archive

        return getattr(archive, name)
    raise AttributeError(name)
