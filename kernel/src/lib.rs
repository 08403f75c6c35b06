//! `hab._kernel`: the resampling loops of hab's statistics, in native code.
//!
//! Python decides what to estimate and how to report it; this module only
//! runs the bootstrap resamples (1000 cells x 100 samples x 100 000
//! resamples is 10^10 draws, too many for numpy in reasonable time) and
//! reads percentiles off the resulting distributions.

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pub mod resample;
pub mod summary;

/// Hierarchical bootstrap of criterion's estimates.
///
/// `iters` and `times` are the samples of all processes, concatenated;
/// process `p` owns `offsets[p]..offsets[p+1]`. Returns a `(5, nresamples)`
/// array: mean, median, std_dev, median_abs_dev, slope (NaN unless
/// `linear`), each computed on the per-iteration times of one resample.
#[pyfunction]
fn bootstrap<'py>(
    py: Python<'py>,
    iters: PyReadonlyArray1<'py, f64>,
    times: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, u64>,
    linear: bool,
    nresamples: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let offsets: Vec<usize> = offsets.as_slice()?.iter().map(|&o| o as usize).collect();
    let series = resample::Series::new(iters.as_slice()?, times.as_slice()?, &offsets)
        .map_err(PyValueError::new_err)?;
    let dists = py.detach(|| resample::bootstrap(&series, linear, nresamples, seed));
    Ok(dists.into_pyarray(py))
}

/// `(lower, upper, standard_error)` of a bootstrap distribution: the
/// percentile interval at `confidence` (linear interpolation, as numpy's
/// and criterion's percentiles) and the distribution's standard deviation.
#[pyfunction]
fn summarize(py: Python<'_>, dist: PyReadonlyArray1<'_, f64>, confidence: f64) -> PyResult<(f64, f64, f64)> {
    if !(0.0..1.0).contains(&confidence) {
        return Err(PyValueError::new_err("confidence must be in [0, 1)"));
    }
    let mut values = dist.as_slice()?.to_vec();
    Ok(py.detach(|| summary::summarize(&mut values, confidence)))
}

#[pymodule]
fn _kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    Ok(())
}
