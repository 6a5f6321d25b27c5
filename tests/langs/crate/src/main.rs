// A crate with no dependencies, built by cargo (which runs rustc, which runs
// cc to link) inside the guest.
use std::sync::mpsc;
use std::thread;

fn main() {
    let (tx, rx) = mpsc::channel();
    for i in 0..4u64 {
        let tx = tx.clone();
        thread::spawn(move || tx.send((1..=(i + 1) * 1000).sum::<u64>()).unwrap());
    }
    drop(tx);
    let mut sums: Vec<u64> = rx.iter().collect();
    sums.sort();
    println!("{:?}", sums);
}
