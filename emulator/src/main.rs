fn main() {
    println!("oss-emulator: not yet built");
}
