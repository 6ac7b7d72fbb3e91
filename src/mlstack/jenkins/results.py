"""The outcome of one build, and the exit code `mlstack jenkins build` gives for it."""

from __future__ import annotations

from dataclasses import dataclass

RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "ABORTED", "NOT_BUILT")

# Exit codes of ``mlstack jenkins build``.
EXIT_SUCCESS = 0
EXIT_FAILED = 1  # FAILURE, ABORTED, NOT_BUILT, or the queue item was cancelled
EXIT_ERROR = 2  # bad settings, Jenkins unreachable, authentication refused, unknown job
EXIT_UNSTABLE = 3  # e.g. drift found by the pipeline's drift check
EXIT_TIMEOUT = 4


@dataclass(frozen=True)
class BuildResult:
    """The outcome of one build."""

    job: str
    queue_id: int
    number: int
    url: str
    result: str
    duration_s: float  # as Jenkins measured it

    @property
    def succeeded(self) -> bool:
        """True for SUCCESS only."""
        return self.result == "SUCCESS"

    @property
    def exit_code(self) -> int:
        """0 for SUCCESS, 3 for UNSTABLE, 1 for any other result."""
        if self.result == "SUCCESS":
            return EXIT_SUCCESS
        if self.result == "UNSTABLE":
            return EXIT_UNSTABLE
        return EXIT_FAILED
