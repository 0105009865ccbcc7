"""Errors a user can fix, each printed as one readable message without a traceback, and every exit code a
command of depthlab ends with, so that a scheduler can tell them apart: an error's own (`exit_code`), and the
codes of outcomes that are not errors (a regression, a failed push, a reproduction that differs, an interrupt)."""

# Outcomes that are not errors: a command finishes its work, then says so by its exit code.
REGRESSION = 6  # a scheduled run's accuracy dropped more than schedule.max_accuracy_drop (reports/alert.md)
PUSH_FAILED = 8  # a scheduled run's dvc push failed: dvc.lock is not committed
DIFFERS = 10  # a reproduced run differs from its record
INTERRUPTED = 130  # Ctrl-C (SIGINT)
TERMINATED = 143  # SIGTERM


class DepthlabError(Exception):
    """Base class: the message names the file, key or column and the problem."""

    exit_code = 1


class ParamsError(DepthlabError):
    """params.yaml has an unknown, misspelled, mistyped or impossible value."""

    exit_code = 2


class ModelContractError(ParamsError):
    """The module params.yaml names breaks its contract: its forward's logits or its training_step's loss."""


class DataError(DepthlabError):
    """A data file is missing, unreadable or not what the params declare."""

    exit_code = 3


class ValidationFailed(DepthlabError):
    """The prepared data broke one or more expectations of the validation suite."""

    exit_code = 4


class TrackingError(DepthlabError):
    """The MLflow tracking store cannot be used."""

    exit_code = 5


class ClusterError(DepthlabError):
    """The Ray cluster named in the environment cannot be used, or runs other code than this machine."""

    exit_code = 7


class Refused(DepthlabError):
    """`depthlab.reproduce`: the run cannot be reproduced faithfully."""

    exit_code = 9


class Locked(DepthlabError):
    """`depthlab.schedule`: another scheduled run holds the workspace (EX_TEMPFAIL: the systemd unit counts it as
    skipped)."""

    exit_code = 75


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it unwinds like Ctrl-C: runs end KILLED, outputs stay whole."""

    exit_code = TERMINATED
