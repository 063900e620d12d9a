//! Any burn [`Module`] as flat `f32` parameter buffers and a loss closure, so that every
//! closure-level method of this crate — LoRA, LoRA-GGPO and SAM-LoRA ([`crate::lora`]), GaLore
//! ([`crate::galore`]), the fused optimizers and [`crate::step`] — applies to it unchanged.
//!
//! ```ignore
//! use optlab_nn::module::FlatModule;
//! let flat = FlatModule::new(net)?;               // a burn module on an autodiff device
//! let params = flat.params()?;                    // Vec<Vec<f32>>, one per float parameter
//! let mut loss = |p: &[Vec<f32>]| flat.loss_and_grads(p, |m| Ok(m.loss(&x, &y)));
//! // e.g. LoRA-GGPO on its 2-D weights: Lora::new(params, flat.matrix_targets(), ...)
//! ```
//!
//! Parameters are listed in the module's visiting order (its field order) with their dotted
//! paths (`l1.weight`). A burn `Linear` stores its weight as `[d_in, d_out]`, the layout of
//! [`crate::lora::LoraTarget`] (`rows = d_in`), so [`FlatModule::matrix_targets`] can be
//! handed to [`crate::lora::Lora::new`] as is. Every float parameter is a buffer to train: the
//! module's own `require_grad` flags are not consulted; freeze tensors through the method
//! (LoRA's base, a decay mask). The module must live on an autodiff device. Modules that
//! already carry a reparameterisation (burn's own `apply_lora`) are not supported: their
//! adapters would be listed as parameters.

use crate::flat::to_vec;
use crate::lora::LoraTarget;
use burn::Tensor;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, TensorData};
use optlab_core::{Error, Result};

/// Path bookkeeping shared by the visitor and the mapper.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn name(&self, index: usize) -> String {
        if self.0.is_empty() {
            format!("param{index}")
        } else {
            self.0.join(".")
        }
    }
}

/// What a [`Reader`] collects besides names and shapes.
#[derive(Clone, Copy)]
enum Read<'a> {
    /// Nothing: only a check that every parameter is f32 (an empty `Ok` per parameter).
    Layout,
    /// The values.
    Values,
    /// The gradients in these `Gradients`.
    Grads(&'a burn::tensor::Gradients),
}

/// Collects names, shapes and (optionally) values or gradients of the float parameters.
struct Reader<'a> {
    path: Path,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    values: Vec<Result<Vec<f32>>>,
    read: Read<'a>,
    /// Whether every parameter lives on an autodiff device.
    autodiff: bool,
}

impl<'a> Reader<'a> {
    fn new(read: Read<'a>) -> Self {
        Reader {
            path: Path::default(),
            names: Vec::new(),
            shapes: Vec::new(),
            values: Vec::new(),
            read,
            autodiff: true,
        }
    }
}

impl ModuleVisitor for Reader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.name(self.names.len());
        let t = param.val();
        self.autodiff &= t.device().is_autodiff();
        let shape = t.dims().to_vec();
        let n: usize = shape.iter().product();
        let value = match self.read {
            Read::Layout if t.dtype() == DType::F32 => Ok(Vec::new()),
            Read::Layout => Err(Error::Other(format!(
                "{name} data: {:?}, expected f32",
                t.dtype()
            ))),
            // A parameter the loss does not use has a zero gradient.
            Read::Grads(g) => t
                .grad(g)
                .map_or_else(|| Ok(vec![0.0; n]), |gt| to_vec(gt, &name)),
            Read::Values => to_vec(t, &name),
        };
        self.names.push(name);
        self.shapes.push(shape);
        self.values.push(value);
    }
}

/// Replaces every float parameter's value by the next buffer, as a gradient-tracking leaf.
struct Writer<'a> {
    params: &'a [Vec<f32>],
    shapes: &'a [Vec<usize>],
    next: usize,
}

impl ModuleMapper for Writer<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.next;
        self.next += 1;
        // Lengths and ranks were checked against the recorded shapes before mapping.
        let (Some(p), Some(shape)) = (self.params.get(i), self.shapes.get(i)) else {
            return param;
        };
        let (p, shape) = (p.clone(), shape.clone());
        param.map(move |t| {
            let device = t.device();
            Tensor::<D>::from_data(TensorData::new(p, shape), &device).require_grad()
        })
    }
}

/// A burn module seen as flat parameter buffers (see the module docs).
#[derive(Debug, Clone)]
pub struct FlatModule<M> {
    module: M,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
}

impl<M: Module + Clone> FlatModule<M> {
    /// Record the module's float parameters (names, shapes). The module should live on an
    /// autodiff device (`Device::flex().autodiff()`) for [`Self::loss_and_grads`].
    pub fn new(module: M) -> Result<Self> {
        let mut r = Reader::new(Read::Layout);
        module.visit(&mut r);
        for v in r.values {
            v?;
        }
        if r.names.is_empty() {
            return Err(Error::config("module", "has no float parameters"));
        }
        if !r.autodiff {
            return Err(Error::config(
                "module",
                "lives on a device without autodiff; build it on `Device::flex().autodiff()`",
            ));
        }
        Ok(FlatModule {
            module,
            names: r.names,
            shapes: r.shapes,
        })
    }

    /// Dotted parameter paths, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Parameter shapes, in order.
    pub fn shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// Entries per parameter.
    pub fn param_sizes(&self) -> Vec<usize> {
        self.shapes.iter().map(|s| s.iter().product()).collect()
    }

    /// Index of the parameter with this path.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Every 2-D parameter as a LoRA target (`rows x cols` = its `[d_in, d_out]` shape).
    pub fn matrix_targets(&self) -> Vec<LoraTarget> {
        self.shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.len() == 2)
            .map(|(i, s)| LoraTarget {
                tensor: i,
                rows: s[0],
                cols: s[1],
            })
            .collect()
    }

    /// The module's current parameter values.
    pub fn params(&self) -> Result<Vec<Vec<f32>>> {
        let mut r = Reader::new(Read::Values);
        self.module.visit(&mut r);
        r.values.into_iter().collect()
    }

    fn check(&self, params: &[Vec<f32>]) -> Result<()> {
        if params.len() != self.shapes.len() {
            return Err(Error::Other(format!(
                "module: {} parameter buffers for a module with {} float parameters",
                params.len(),
                self.shapes.len()
            )));
        }
        for ((p, s), name) in params.iter().zip(&self.shapes).zip(&self.names) {
            let n: usize = s.iter().product();
            if p.len() != n {
                return Err(Error::Other(format!(
                    "module: parameter `{name}` has shape {s:?} ({n} entries), got {}",
                    p.len()
                )));
            }
        }
        Ok(())
    }

    /// A copy of the module holding `params` (gradient-tracking leaves).
    pub fn load(&self, params: &[Vec<f32>]) -> Result<M> {
        self.check(params)?;
        let mut w = Writer {
            params,
            shapes: &self.shapes,
            next: 0,
        };
        Ok(self.module.clone().map(&mut w))
    }

    /// `loss(module with params)` and its gradient for every parameter (zeros for parameters
    /// the loss does not use). `loss` returns a one-element tensor.
    pub fn loss_and_grads(
        &self,
        params: &[Vec<f32>],
        loss: impl FnOnce(&M) -> Result<Tensor<1>>,
    ) -> Result<(f32, Vec<Vec<f32>>)> {
        let m = self.load(params)?;
        let l = loss(&m)?;
        let value = to_vec(l.clone(), "module loss")?;
        let [value] = value[..] else {
            return Err(Error::Other(format!(
                "module: the loss has {} elements, expected 1",
                value.len()
            )));
        };
        if !l.is_tracked() {
            return Err(Error::Other(
                "module: the loss does not depend on the module's parameters (or was detached)"
                    .into(),
            ));
        }
        let grads = l.backward();
        let mut r = Reader::new(Read::Grads(&grads));
        m.visit(&mut r);
        let g: Result<Vec<Vec<f32>>> = r.values.into_iter().collect();
        Ok((value, g?))
    }
}
