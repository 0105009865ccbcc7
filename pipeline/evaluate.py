"""DVC stage 'evaluate@<family>': see depthlab.stages.evaluate."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.evaluate, **stages.arguments(__doc__, "family"))
