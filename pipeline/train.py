"""DVC stage 'train-<family>@<depth>': see depthlab.stages.train."""
from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.train, **stages.point_arguments(__doc__))
