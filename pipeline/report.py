"""DVC stage 'report': see depthlab.stages.report."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.report)
