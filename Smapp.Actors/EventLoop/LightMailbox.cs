using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Smapp.Actors.EventLoop;

/// <summary>
/// An unbounded mailbox for the many small actors of a busy host (one per connection, one per subflow): a lock
/// around a <see cref="Queue{T}"/> that allocates nothing until the first message and grows from four slots,
/// where Akka's default mailbox (a ConcurrentQueue) allocates a 32-slot segment per actor up front. On the event
/// loop, producer and consumer are usually the same thread, so the lock is uncontended.
/// </summary>
public sealed class LightMailbox : MailboxType, IProducesMessageQueue<LightMessageQueue>
{
    public const string ConfigPath = "smapp-light-mailbox";

    /// <summary>The HOCON that declares the mailbox under <see cref="ConfigPath"/>.</summary>
    public static readonly Config Hocon = ConfigurationFactory.ParseString(
        $"{ConfigPath} {{ mailbox-type = \"{typeof(LightMailbox).AssemblyQualifiedName}\" }}");

    public LightMailbox(Settings settings, Config config)
        : base(settings, config)
    {
    }

    public LightMailbox()
        : base(null!, null!)
    {
    }

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new LightMessageQueue();
}

/// <summary>
/// The queue of <see cref="LightMailbox"/>. Deque-based (EnqueueFirst) so that stashing actors can use it: the
/// front items live in a stack that exists only while something was put back.
/// </summary>
public sealed class LightMessageQueue : IMessageQueue, IUnboundedDequeBasedMessageQueueSemantics
{
    private readonly Queue<Envelope> _queue = new();
    private Stack<Envelope>? _front;

    public bool HasMessages
    {
        get
        {
            lock (_queue)
            {
                return _queue.Count > 0 || _front?.Count > 0;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_queue)
            {
                return _queue.Count + (_front?.Count ?? 0);
            }
        }
    }

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        lock (_queue)
        {
            _queue.Enqueue(envelope);
        }
    }

    /// <summary>Puts an envelope back at the head (Unstash calls this for each stashed message, last first).</summary>
    public void EnqueueFirst(Envelope envelope)
    {
        lock (_queue)
        {
            (_front ??= new Stack<Envelope>()).Push(envelope);
        }
    }

    public bool TryDequeue(out Envelope envelope)
    {
        lock (_queue)
        {
            if (_front is { Count: > 0 })
            {
                envelope = _front.Pop();
                if (_front.Count == 0)
                {
                    _front = null;
                }

                return true;
            }

            return _queue.TryDequeue(out envelope);
        }
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var e))
        {
            deadletters.Enqueue(owner, e);
        }
    }
}
