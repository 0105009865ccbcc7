"""DVC stage 'evaluate-<family>@<depth>': see depthlab.stages.evaluate."""
from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.evaluate, **stages.point_arguments(__doc__))
