fn main() {
    print!("{}", apigw_operator::api::crds_yaml().unwrap());
}
