"""What can go wrong with a Jenkins build: unreachable or refused, timed out, cancelled."""

from __future__ import annotations

from mlstack.errors import MlstackError


class JenkinsError(MlstackError):
    """Jenkins could not be reached, refused the request, or answered something unexpected."""


class JenkinsTimeout(JenkinsError):
    """The build did not get a number, or did not finish, within the time allowed."""

    def __init__(
        self,
        message: str,
        *,
        queue_id: int | None = None,
        number: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.queue_id = queue_id
        self.number = number
        self.url = url


class QueueItemCancelled(JenkinsError):
    """The queue item was cancelled before any build started."""

    def __init__(self, message: str, *, queue_id: int) -> None:
        super().__init__(message)
        self.queue_id = queue_id
