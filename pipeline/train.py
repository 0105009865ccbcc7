"""DVC stage 'train@<family>': see depthlab.stages.train."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.train, **stages.arguments(__doc__, "family"))
