import Hummingbird
import HummingbirdTLS
import _CryptoExtras
import X509
import CompressNIO
public enum EntraEmulatorPlaceholder {}
