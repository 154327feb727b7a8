//! Rendering: the model becomes each cluster's plan (decided in Rust, [`plan`]) and the plan
//! becomes Kubernetes manifests through Tera templates ([`templates`]).
//!
//! The output is deterministic: clusters, namespaces and objects come in name order, and the
//! same topology gives the same bytes on every run and machine.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// One rendered Kubernetes object.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `apiVersion`, e.g. `networking.k8s.io/v1`.
    pub api_version: String,
    /// `kind`, e.g. `NetworkPolicy`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The YAML document exactly as rendered (no leading `---`), ending with a newline.
    /// Read-only ([`Manifest::yaml`]): `value` is parsed from it.
    yaml: String,
    /// The same document as JSON: parsed again from `yaml` on first use. Rendering parses and
    /// checks every document but keeps only the text; holding every parsed tree of a large
    /// render tripled its memory and time (docs/performance.md).
    value: std::sync::OnceLock<serde_json::Value>,
}

impl Manifest {
    /// An object known as JSON (a live object, a test fixture); `yaml` may be empty.
    pub fn from_value(
        api_version: String,
        kind: String,
        name: String,
        namespace: Option<String>,
        yaml: String,
        value: serde_json::Value,
    ) -> Self {
        Self {
            api_version,
            kind,
            name,
            namespace,
            yaml,
            value: value.into(),
        }
    }

    /// The YAML document exactly as rendered (no leading `---`), ending with a newline; empty
    /// for an object built [`Manifest::from_value`] without text.
    pub fn yaml(&self) -> &str {
        &self.yaml
    }

    /// The object as JSON.
    pub fn value(&self) -> &serde_json::Value {
        self.value.get_or_init(|| {
            check::parse(&self.yaml).expect("a rendered document was parsed when it was checked")
        })
    }

    /// The path of this object inside its cluster's folder:
    /// `<namespace or _cluster>/<kind>-<name>.yaml`, lowercased kind.
    pub fn file_path(&self) -> String {
        let folder = self.namespace.as_deref().unwrap_or("_cluster");
        let mut path = String::with_capacity(folder.len() + self.kind.len() + self.name.len() + 7);
        path.push_str(folder);
        path.push('/');
        path.extend(self.kind.chars().map(|c| c.to_ascii_lowercase()));
        path.push('-');
        path.push_str(&self.name);
        path.push_str(".yaml");
        path
    }
}

/// Every object of one cluster, in apply order within each namespace (Namespace first).
#[derive(Debug, Clone)]
pub struct RenderedCluster {
    pub name: String,
    pub environment: String,
    pub manifests: Vec<Manifest>,
}

impl RenderedCluster {
    /// The cluster's files (relative path -> text), including its `kustomization.yaml`,
    /// exactly as `render --out` and `commit` lay them out under `<cluster>/`. The manifests'
    /// text is borrowed, not copied.
    pub fn files(&self) -> BTreeMap<String, Cow<'_, str>> {
        let mut files: BTreeMap<String, Cow<'_, str>> = self
            .manifests
            .iter()
            .map(|m| (m.file_path(), Cow::Borrowed(m.yaml())))
            .collect();
        let mut k = String::from(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
        );
        let mut line = Vec::new();
        for path in files.keys() {
            line.clear();
            line.extend_from_slice(b"- ");
            let _ = templates::escape_yaml(path, &mut line);
            line.push(b'\n');
            k.push_str(std::str::from_utf8(&line).expect("escape_yaml writes UTF-8"));
        }
        files.insert("kustomization.yaml".to_string(), Cow::Owned(k));
        files
    }
}

/// The rendered plan of one environment.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub environment: String,
    /// Clusters in name order.
    pub clusters: Vec<RenderedCluster>,
}

pub mod plan;
pub mod templates;
mod write;

use std::path::PathBuf;

use crate::model::Model;
pub use write::{WriteReport, write_out};

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Template directory overriding the embedded templates (file by file); falls back to the
    /// topology's `[project] templates`.
    pub templates: Option<PathBuf>,
    /// Render only this cluster.
    pub cluster: Option<String>,
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("unknown environment `{0}`")]
    UnknownEnvironment(String),
    #[error("unknown cluster `{cluster}` in environment `{environment}` (clusters: {known})")]
    UnknownCluster {
        cluster: String,
        environment: String,
        known: String,
    },
    #[error("cannot read templates at {}: {message}", path.display())]
    TemplateDir { path: PathBuf, message: String },
    #[error("{}: not a segplan template name (known: {known})", path.display())]
    UnknownTemplate { path: PathBuf, known: String },
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    #[error("template {template} produced an invalid {} `{}` for cluster {}: {}\n--- produced ---\n{}", .detail.kind, .detail.object, .detail.cluster, .detail.problem, .detail.excerpt)]
    Produced {
        template: String,
        detail: Box<Produced>,
    },
}

/// What a template produced that failed the checks.
#[derive(Debug)]
pub struct Produced {
    pub cluster: String,
    pub kind: String,
    pub object: String,
    pub problem: String,
    /// The produced document, with line numbers.
    pub excerpt: String,
}

/// Renders every cluster of an environment (or the one of `opts.cluster`).
pub fn render(model: &Model, env: &str, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let environment = model
        .environment(env)
        .ok_or_else(|| RenderError::UnknownEnvironment(env.to_string()))?;
    if let Some(c) = &opts.cluster
        && !environment.clusters.contains_key(c)
    {
        return Err(RenderError::UnknownCluster {
            cluster: c.clone(),
            environment: env.to_string(),
            known: environment
                .clusters
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let dir = opts.templates.clone().or_else(|| model.templates.clone());
    let templates = templates::load(dir.as_deref())?;
    let clusters: Vec<&crate::model::Cluster> = environment
        .clusters
        .values()
        .filter(|c| opts.cluster.as_ref().is_none_or(|n| *n == c.name))
        .collect();
    // Clusters are independent, and so are the objects of a plan: plan every cluster on all
    // cores, then shape and check the objects in chunks, every thread taking the next chunk
    // of any cluster (Istio clusters have twice the objects; whole clusters per thread left
    // one core idle at the end).
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = std::time::Instant::now();
    let plans = parallel_map(&clusters, threads, |c| {
        plan::cluster_plan(model, environment, c)
    });
    tracing::debug!(
        "{} cluster plan(s) in {} ms",
        plans.len(),
        start.elapsed().as_millis()
    );
    const CHUNK: usize = 500;
    // Each chunk owns its objects and is dropped by the thread that shaped it: dropping the
    // plans afterwards, on one thread, took a fifth of the time.
    let mut plans = plans;
    let mut chunks: Vec<(usize, std::sync::Mutex<Vec<plan::Object>>)> = Vec::new();
    for (i, p) in plans.iter_mut().enumerate() {
        let mut objects = std::mem::take(&mut p.objects).into_iter().peekable();
        while objects.peek().is_some() {
            chunks.push((i, objects.by_ref().take(CHUNK).collect::<Vec<_>>().into()));
        }
    }
    let shaped = parallel_map(&chunks, threads, |(i, objects)| {
        let objects = std::mem::take(&mut *objects.lock().unwrap_or_else(|e| e.into_inner()));
        let n = objects.len();
        (n, render_objects(&plans[*i], &objects, &templates))
    });
    let mut spent = [std::time::Duration::ZERO; 3];
    let mut objects = 0;
    let mut manifests: Vec<Vec<Manifest>> = plans.iter().map(|_| Vec::new()).collect();
    // In plan order, so the error reported is the first failing object's.
    for ((i, _), (n, (result, time))) in chunks.iter().zip(shaped) {
        manifests[*i].extend(result?);
        objects += n;
        for (total, t) in spent.iter_mut().zip(time) {
            *total += t;
        }
    }
    tracing::debug!(
        "{} objects: template contexts {:.0?}, templates {:.0?}, parse back and check {:.0?} (CPU time over {threads} thread(s)); done after {} ms",
        objects,
        spent[0],
        spent[1],
        spent[2],
        start.elapsed().as_millis()
    );
    Ok(Rendered {
        environment: env.to_string(),
        clusters: plans
            .iter()
            .zip(manifests)
            .map(|(plan, manifests)| RenderedCluster {
                name: plan.cluster.clone(),
                environment: plan.environment.clone(),
                manifests,
            })
            .collect(),
    })
}

/// `f` over `items` on up to `threads` threads, each taking the next item when it is done;
/// results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = threads.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (f, next) = (&f, &next);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("render thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Shapes one cluster's plan through the templates and checks every document.
pub fn render_plan(
    plan: &plan::ClusterPlan,
    templates: &templates::Templates,
) -> Result<RenderedCluster, RenderError> {
    Ok(RenderedCluster {
        name: plan.cluster.clone(),
        environment: plan.environment.clone(),
        manifests: render_objects(plan, &plan.objects, templates).0?,
    })
}

/// Shapes `objects` of `plan` and checks every document; also returns the time spent building
/// template contexts, in the templates, and parsing back and checking.
fn render_objects(
    plan: &plan::ClusterPlan,
    objects: &[plan::Object],
    templates: &templates::Templates,
) -> (Result<Vec<Manifest>, RenderError>, [std::time::Duration; 3]) {
    let mut spent = [std::time::Duration::ZERO; 3];
    let result = render_timed(plan, objects, templates, &mut spent);
    (result, spent)
}

fn render_timed(
    plan: &plan::ClusterPlan,
    objects: &[plan::Object],
    templates: &templates::Templates,
    spent: &mut [std::time::Duration; 3],
) -> Result<Vec<Manifest>, RenderError> {
    let mut manifests = Vec::with_capacity(objects.len());
    let mut base = tera::Context::new();
    base.insert("context_version", &plan::CONTEXT_VERSION);
    base.insert("cluster", &plan.cluster);
    base.insert("environment", &plan.environment);
    // Where the time goes, for `SEGPLAN_LOG=segplan=debug` (docs/performance.md).
    let mut clock = std::time::Instant::now();
    let mut lap = |phase: usize| {
        let now = std::time::Instant::now();
        spent[phase] += now - clock;
        clock = now;
    };
    for obj in objects {
        let (api_version, kind, template) = obj.type_info();
        let fields = match obj {
            plan::Object::Namespace(o) => tera::Context::from_serialize(o),
            plan::Object::NetworkPolicy(o) => tera::Context::from_serialize(o),
            plan::Object::AdmissionPolicy(o) => tera::Context::from_serialize(o),
            plan::Object::AdmissionBinding(o) => tera::Context::from_serialize(o),
            plan::Object::AuthorizationPolicy(o) => tera::Context::from_serialize(o),
            plan::Object::PeerAuthentication(o) => tera::Context::from_serialize(o),
        };
        let mut ctx = base.clone();
        ctx.extend(fields.map_err(|e| RenderError::Template {
            template: templates.origin(template),
            message: templates::tera_message(&e),
        })?);
        let meta = obj.meta();
        lap(0);
        let text = templates
            .tera
            .render(template, &ctx)
            .map_err(|e| RenderError::Template {
                template: templates.origin(template),
                message: templates::tera_message(&e),
            })?;
        let mut yaml = text;
        let kept = yaml.trim_end().len();
        yaml.truncate(kept);
        let leading = yaml.len() - yaml.trim_start().len();
        yaml.drain(..leading);
        yaml.push('\n');
        lap(1);
        let produced = |problem: String| RenderError::Produced {
            template: templates.origin(template),
            detail: Box::new(Produced {
                cluster: plan.cluster.clone(),
                kind: kind.to_string(),
                object: match &meta.namespace {
                    Some(ns) => format!("{ns}/{}", meta.name),
                    None => meta.name.clone(),
                },
                problem,
                excerpt: excerpt(&yaml),
            }),
        };
        check::parse_and_check(
            &yaml,
            api_version,
            kind,
            &meta.name,
            meta.namespace.as_deref(),
        )
        .map_err(produced)?;
        lap(2);
        manifests.push(Manifest {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            yaml,
            value: std::sync::OnceLock::new(),
        });
    }
    Ok(manifests)
}

fn excerpt(yaml: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out: Vec<String> = lines
        .iter()
        .take(40)
        .enumerate()
        .map(|(i, l)| format!("{:>3} | {l}", i + 1))
        .collect();
    if lines.len() > 40 {
        out.push(format!("    ... {} more lines", lines.len() - 40));
    }
    out.join("\n")
}

mod check;
pub mod fast_yaml;

impl Rendered {
    /// One multi-document YAML stream, clusters in name order.
    pub fn to_yaml_stream(&self) -> String {
        let mut out = Vec::new();
        self.write_yaml_stream(&mut out)
            .expect("writing to memory cannot fail");
        String::from_utf8(out).expect("rendered documents are UTF-8")
    }

    /// [`Self::to_yaml_stream`], written to `out` document by document.
    pub fn write_yaml_stream(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        for c in &self.clusters {
            for m in &c.manifests {
                out.write_all(b"---\n")?;
                out.write_all(m.yaml.as_bytes())?;
            }
        }
        Ok(())
    }

    /// A JSON `List` of every object, clusters in name order.
    pub fn to_json(&self) -> String {
        let items: Vec<&serde_json::Value> = self
            .clusters
            .iter()
            .flat_map(|c| c.manifests.iter().map(Manifest::value))
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
        let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
        s.push('\n');
        s
    }
}
