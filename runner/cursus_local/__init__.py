"""cursus-local: run Cursus pipeline scripts in their SageMaker Processing images, locally."""

__version__ = "0.1.0"
