"""Errors a user can fix: each is printed as one readable message, without a traceback."""


class DepthlabError(Exception):
    """Base class: the message names the file, key or column and the problem."""


class ParamsError(DepthlabError):
    """params.yaml has an unknown, misspelled, mistyped or impossible value."""


class ModelContractError(ParamsError):
    """The module params.yaml names breaks its contract: its forward's logits or its training_step's loss."""


class DataError(DepthlabError):
    """A data file is missing, unreadable or not what the params declare."""


class ValidationFailed(DepthlabError):
    """The prepared data broke one or more expectations of the validation suite."""


class TrackingError(DepthlabError):
    """The MLflow tracking store cannot be used."""


class ClusterError(DepthlabError):
    """The Ray cluster named in the environment cannot be used, or runs other code than this machine."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it unwinds like Ctrl-C: runs end KILLED, outputs stay whole."""
