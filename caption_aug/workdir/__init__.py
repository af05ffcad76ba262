"""What a run keeps in its workdir, one way for every stage: the folder layout and stage names,
checkpoints, TensorBoard writers, metrics files, and the loaders of trained stages.

This layer sits below training and evaluation (both read and write workdirs through it) and
above models and data.
"""
