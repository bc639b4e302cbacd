"""Tools around optimizers, not algorithms: what a step did (explain), whether training is
healthy (monitor), the learning-rate range test (lr_find), gradient clipping (clip), parameter
groups for weight decay (groups), and ZeRO-1 sharding of optimizer state across MPI ranks
(zero). Their public names are exported from `optim` itself: optim.explain, optim.lr_find, ..."""
