"""DVC stage 'prepare@<dataset>': see depthlab.stages.prepare."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.prepare, **stages.arguments(__doc__, "dataset"))
