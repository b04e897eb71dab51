use wgnn::graph::{Backend, GpuGraph, HostData, Plan};
fn main() {
    let model = std::env::args().nth(1).unwrap_or("convnet".into());
    let spec = wgnn::model::preset(&model).unwrap();
    let data = wgnn::data::load_dir(std::path::Path::new("data/mnist")).unwrap();
    let ctx = wgnn::runtime::GpuContext::new().unwrap();
    let plan = Plan::new(spec.input, &spec.layers, 128).unwrap();
    let mut g = GpuGraph::new(&ctx, plan, wgnn::ops::optim::Optimizer::adam(0.001), 1).unwrap();
    g.load(
        0,
        HostData {
            images: &data.train.images[..784 * 1000],
            labels: &data.train.labels[..1000],
            sample_len: 784,
        },
    )
    .unwrap();
    g.profile_step(0).unwrap();
    for (n, t) in g.profile_step(0).unwrap() {
        println!("{:>9.2} ms  {n}", t * 1000.0);
    }
}
