"""DVC stage 'evaluate-<family>@<dataset>': see depthlab.stages.evaluate."""
from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.evaluate, **stages.arguments(__doc__, "dataset", "family"))
