"""DVC stage 'prepare': see depthlab.stages.prepare."""
from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.prepare)
