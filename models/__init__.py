"""Toy models, bundled data, training loops and the command line."""
import os as _os

# Under mpirun each rank is bound to its share of the cores, and a BLAS library that starts a
# thread per core makes the ranks fight over them (measured on 2 cores: 2 ranks ran 10-40x slower
# than 1). So, before NumPy loads its BLAS, one BLAS thread per rank unless the user chose.
if any(v in _os.environ for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")):
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        _os.environ.setdefault(_var, "1")
