use super::Readiness;

#[test]
fn readiness_is_decided_for_the_platform_and_the_sockets() {
    let auto = Readiness::resolve(None, true);
    let listen = Readiness::resolve(Some(Readiness::Listen), true);
    let without_sockets = Readiness::resolve(Some(Readiness::Auto), false);
    if cfg!(windows) {
        assert_eq!([auto, listen], [Readiness::Fetched; 2]);
    } else if cfg!(target_os = "linux") {
        assert_eq!(auto, Readiness::Auto);
        assert_eq!(listen, Readiness::Listen);
        assert_eq!(without_sockets, Readiness::Notify);
    } else {
        assert_eq!([auto, without_sockets], [Readiness::Notify; 2]);
    }
}
