"""DVC stage 'validate@<dataset>': see depthlab.stages.validate."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.validate, **stages.arguments(__doc__, "dataset"))
