"""DVC stage 'export-csv': see depthlab.stages.export_csv."""

from depthlab import stages

if __name__ == "__main__":
    stages.run(stages.export_csv, **stages.arguments(__doc__, "name"))
