namespace Smapp.Actors.Configuration;

/// <summary>Settings of the gateway (HOCON smapp.gateway).</summary>
public sealed record GatewaySettings(int ReceiveBuffer, TimeSpan CommandTimeout)
{
    public static readonly GatewaySettings Default = new(8 * 1024 * 1024, TimeSpan.FromSeconds(5));
}
