"""The one exception hierarchy of the GPU worker.

`InputRejected` and its subclasses are the merchant's fault (a bad photo, no person in it): the message is a
single line that says what was wrong and what to do, and it is shown as is in the admin. Everything else is
ours.
"""

from __future__ import annotations


class PoseStudioError(Exception):
    """Base of every error raised on purpose by `gpu_worker`."""


class InputRejected(PoseStudioError):
    """The input cannot be used; `str(e)` is a one-line reason with what to do about it."""


class BadImage(InputRejected):
    """Not a decodable still image (empty, corrupt, truncated, animated, too small)."""


class ImageTooLarge(InputRejected):
    """More pixels than we are willing to decode (decompression bomb guard)."""


class NoPersonDetected(InputRejected):
    """The pose detector found no person in the photo."""


class SeveralPeople(InputRejected):
    """The photo shows more than one person (a couple, a group): which one to re-pose is not ours to guess."""


class ImplausibleSkeleton(InputRejected):
    """A skeleton was found (or sent) but its proportions are not those of a human figure."""


class PoseLibraryError(PoseStudioError):
    """Unknown pose set or pose id, or an invalid pose set / pose JSON document."""
