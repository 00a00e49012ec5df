/// The version of this build of Neuroplex.
public enum NeuroplexVersion {
    public static let current = "0.1.0"
}
