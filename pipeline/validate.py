"""DVC stage 'validate': see depthlab.stages.validate."""
from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.validate)
