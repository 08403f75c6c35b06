//! `hab._kernel`: the resampling loops of hab's statistics, in native code.
//!
//! Python decides what to estimate and how to report it; this module only
//! runs the bootstrap resamples (1000 cells x 100 samples x 100 000
//! resamples is 10^10 draws, too many for numpy in reasonable time) and
//! reads percentiles off the resulting distributions.

use numpy::ndarray::{Array1, Array2, Axis};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rayon::prelude::*;

pub mod resample;
pub mod summary;

/// What [`bootstrap`] returns: the `(5, 3)` summary and the typical time's
/// bootstrap distribution.
type Estimates<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>);

/// Hierarchical bootstrap of criterion's estimates.
///
/// `iters` and `times` are the samples of all processes, concatenated;
/// process `p` owns `offsets[p]..offsets[p+1]`. Returns `(summary,
/// typical)`: `summary` is a `(5, 3)` array of `(lower, upper,
/// standard_error)` at `confidence` for mean, median, std_dev,
/// median_abs_dev and slope (NaN unless `linear`); `typical` is the
/// bootstrap distribution of the typical time (the slope when linear, else
/// the mean), which ratios between series need.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn bootstrap<'py>(
    py: Python<'py>,
    iters: PyReadonlyArray1<'py, f64>,
    times: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, u64>,
    linear: bool,
    nresamples: usize,
    seed: u64,
    confidence: f64,
) -> PyResult<Estimates<'py>> {
    check_confidence(confidence)?;
    if nresamples < 2 {
        return Err(PyValueError::new_err("nresamples must be at least 2"));
    }
    let offsets: Vec<usize> = offsets.as_slice()?.iter().map(|&o| o as usize).collect();
    let series =
        resample::Series::new(iters.as_slice()?, times.as_slice()?, &offsets).map_err(PyValueError::new_err)?;
    let (summary, typical) = py.detach(|| {
        let dists = resample::bootstrap(&series, linear, nresamples, seed);
        let typical: Array1<f64> = dists.row(if linear { 4 } else { 0 }).to_owned();
        let rows: Vec<Vec<f64>> = dists.axis_iter(Axis(0)).map(|row| row.to_vec()).collect();
        let rows: Vec<(f64, f64, f64)> =
            rows.into_par_iter().map(|mut row| summary::summarize(&mut row, confidence)).collect();
        let mut summary = Array2::zeros((rows.len(), 3));
        for (i, (lo, hi, se)) in rows.into_iter().enumerate() {
            summary[[i, 0]] = lo;
            summary[[i, 1]] = hi;
            summary[[i, 2]] = se;
        }
        (summary, typical)
    });
    Ok((summary.into_pyarray(py), typical.into_pyarray(py)))
}

fn check_confidence(confidence: f64) -> PyResult<()> {
    if (0.0..1.0).contains(&confidence) {
        Ok(())
    } else {
        Err(PyValueError::new_err("confidence must be in [0, 1)"))
    }
}

/// `(lower, upper, standard_error)` of a bootstrap distribution: the
/// percentile interval at `confidence` (linear interpolation, as numpy's
/// and criterion's percentiles) and the distribution's standard deviation.
#[pyfunction]
fn summarize(py: Python<'_>, dist: PyReadonlyArray1<'_, f64>, confidence: f64) -> PyResult<(f64, f64, f64)> {
    check_confidence(confidence)?;
    let mut values = dist.as_slice()?.to_vec();
    Ok(py.detach(|| summary::summarize(&mut values, confidence)))
}

#[pymodule]
fn _kernel(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(bootstrap, m)?)?;
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    Ok(())
}
