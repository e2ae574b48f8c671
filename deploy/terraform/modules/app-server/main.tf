# `gitops serve` (GitHub App mode) on ECS Fargate: replicas behind an Application Load Balancer
# that GitHub sends the App's webhooks to, one SQS FIFO work queue with its FIFO dead-letter
# queue, the App's private key and webhook secret in Secrets Manager (values never in Terraform
# state), a task role with exactly what the server's queue client calls plus the deploy
# permissions, an execution role that reads just the two secrets, and a log group.

data "aws_region" "current" {}

locals {
  create_private_key_secret = var.app_private_key_secret_arn == null
  create_webhook_secret     = var.webhook_secret_arn == null
  private_key_secret_arn    = local.create_private_key_secret ? aws_secretsmanager_secret.app_private_key[0].arn : var.app_private_key_secret_arn
  webhook_secret_arn        = local.create_webhook_secret ? aws_secretsmanager_secret.webhook_secret[0].arn : var.webhook_secret_arn

  cluster_arn = var.cluster_arn == null ? aws_ecs_cluster.this[0].arn : var.cluster_arn
  lb_subnets  = length(var.load_balancer_subnet_ids) > 0 ? var.load_balancer_subnet_ids : var.subnet_ids
  https       = var.certificate_arn != null
  lb_url      = var.create_load_balancer ? "${local.https ? "https" : "http"}://${aws_lb.this[0].dns_name}" : null
  base_url    = var.public_url != null ? trimsuffix(var.public_url, "/") : local.lb_url

  container_port = 8080
  environment = concat(
    [
      { name = "GITOPS_APP_ID", value = var.app_id },
      { name = "GITOPS_REPOSITORY", value = var.gitops_repository },
      { name = "GITHUB_API_URL", value = var.github_api_url },
      { name = "AWS_REGION", value = data.aws_region.current.name },
      { name = "RUST_LOG", value = var.log_level },
    ],
    var.gitops_repo_url == null ? [] : [{ name = "GITOPS_REPO_URL", value = var.gitops_repo_url }],
  )
}

# --- the work queue ----------------------------------------------------------------------------
# FIFO, MessageGroupId = <env>/<mfe> (per-pair order, pairs in parallel), MessageDeduplicationId
# = the delivery id set by the server (content-based deduplication off: two deliveries with the
# same body are two jobs). Deduplication is per queue, not per message group: a redelivery is
# dropped whichever group it maps to, as on the embedded SQLite queue; at GitHub's webhook rates
# the per-queue throughput (300 sends/s) is far from a limit.

resource "aws_sqs_queue" "dead_letters" {
  name                        = "${var.name}-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  deduplication_scope         = "queue"
  fifo_throughput_limit       = "perQueue"
  message_retention_seconds   = 1209600
  sqs_managed_sse_enabled     = true
  tags                        = var.tags
}

resource "aws_sqs_queue" "jobs" {
  name                        = "${var.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  deduplication_scope         = "queue"
  fifo_throughput_limit       = "perQueue"
  visibility_timeout_seconds  = var.visibility_timeout_seconds
  message_retention_seconds   = var.message_retention_seconds
  receive_wait_time_seconds   = 20
  sqs_managed_sse_enabled     = true
  tags                        = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = var.max_receive_count
  })
}

# --- the App's secrets -------------------------------------------------------------------------
# The secrets only: no aws_secretsmanager_secret_version, so the values never pass through
# Terraform (state, plan, logs). The operator puts them once (README "app-server").

resource "aws_secretsmanager_secret" "app_private_key" {
  count                   = local.create_private_key_secret ? 1 : 0
  name                    = "${var.name}/app-private-key"
  description             = "The GitHub App's private key (PEM) of ${var.name}: GITOPS_APP_PRIVATE_KEY of gitops serve."
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "webhook_secret" {
  count                   = local.create_webhook_secret ? 1 : 0
  name                    = "${var.name}/webhook-secret"
  description             = "The GitHub App's webhook secret of ${var.name}: GITOPS_WEBHOOK_SECRET of gitops serve."
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = var.tags
}

# --- roles -------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    sid     = "EcsTasks"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# The task role: what the server itself calls. On the queue, exactly
# `gitops_queue::sqs::IAM_ACTIONS` (crates/queue/src/sqs.rs; a test compares them); on the dead
# letters, the two of them its dead_letter and stats call. No CreateQueue: the queue is made here.
data "aws_iam_policy_document" "queue" {
  statement {
    sid    = "Queue"
    effect = "Allow"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]
    resources = [aws_sqs_queue.jobs.arn]
  }

  statement {
    sid       = "DeadLetters"
    effect    = "Allow"
    actions   = ["sqs:GetQueueAttributes", "sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  description        = "gitops serve (${var.name}): the work queue and the deploy permissions"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "queue" {
  name   = "gitops-queue"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.queue.json
}

# What `gitops iam-policy --env ENV` prints, per environment (deploy-role's policy_json fits).
resource "aws_iam_role_policy" "deploy" {
  for_each = var.deploy_policy_jsons
  name     = "gitops-deploy-${each.key}"
  role     = aws_iam_role.task.id
  policy   = each.value
}

# The execution role: what ECS does before the container starts. It reads the two secrets (to
# inject them as environment variables) and writes the log group; image pulls from ECR need the
# managed policy's ecr:GetAuthorizationToken, which has no resource narrower than "*".
data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "Secrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.private_key_secret_arn, local.webhook_secret_arn]
  }

  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "ImageAuth"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "ImagePull"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = ["arn:aws:ecr:*:*:repository/*"]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  description        = "ECS starts gitops serve (${var.name}): its two secrets, its logs, its image"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "gitops-serve-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# --- network -----------------------------------------------------------------------------------

resource "aws_security_group" "lb" {
  count       = var.create_load_balancer ? 1 : 0
  name        = "${var.name}-lb"
  description = "gitops serve (${var.name}) load balancer: webhooks in"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description = local.https ? "HTTPS" : "HTTP"
    protocol    = "tcp"
    from_port   = local.https ? 443 : 80
    to_port     = local.https ? 443 : 80
    cidr_blocks = var.ingress_cidr_blocks
  }

  egress {
    description = "to the tasks"
    protocol    = "tcp"
    from_port   = local.container_port
    to_port     = local.container_port
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "gitops serve (${var.name}) tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags

  dynamic "ingress" {
    for_each = var.create_load_balancer ? [1] : []

    content {
      description     = "from the load balancer"
      protocol        = "tcp"
      from_port       = local.container_port
      to_port         = local.container_port
      security_groups = [aws_security_group.lb[0].id]
    }
  }

  # GitHub, the AWS APIs and git over HTTPS.
  egress {
    description = "HTTPS out"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_lb" "this" {
  count              = var.create_load_balancer ? 1 : 0
  name               = "${var.name}-lb"
  internal           = false
  load_balancer_type = "application"
  security_groups    = [aws_security_group.lb[0].id]
  subnets            = local.lb_subnets
  idle_timeout       = 30
  tags               = var.tags
}

resource "aws_lb_target_group" "this" {
  count                = var.create_load_balancer ? 1 : 0
  name                 = "${var.name}-tg"
  port                 = local.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30
  tags                 = var.tags

  # Liveness, not readiness: /readyz fails while SQS does, and replacing every task would not
  # bring SQS back.
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "this" {
  count             = var.create_load_balancer ? 1 : 0
  load_balancer_arn = aws_lb.this[0].arn
  port              = local.https ? 443 : 80
  protocol          = local.https ? "HTTPS" : "HTTP"
  certificate_arn   = var.certificate_arn
  ssl_policy        = local.https ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }
}

# --- the service -------------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  count = var.cluster_arn == null ? 1 : 0
  name  = var.name
  tags  = var.tags
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  tags                     = var.tags

  container_definitions = jsonencode([{
    name      = "gitops"
    image     = var.image
    essential = true
    # Appended to the image's ENTRYPOINT (gitops --repo ... serve --listen 0.0.0.0:8080).
    command     = ["--queue", aws_sqs_queue.jobs.url, "--workers", tostring(var.workers)]
    environment = local.environment
    secrets = [
      { name = "GITOPS_APP_PRIVATE_KEY", valueFrom = local.private_key_secret_arn },
      { name = "GITOPS_WEBHOOK_SECRET", valueFrom = local.webhook_secret_arn },
    ]
    portMappings = [{ containerPort = local.container_port, protocol = "tcp" }]
    stopTimeout  = var.stop_timeout_seconds
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "gitops"
      }
    }
  }])
}

resource "aws_ecs_service" "this" {
  name                  = var.name
  cluster               = local.cluster_arn
  task_definition       = aws_ecs_task_definition.this.arn
  desired_count         = var.desired_count
  launch_type           = "FARGATE"
  wait_for_steady_state = var.wait_for_steady_state
  propagate_tags        = "SERVICE"
  tags                  = var.tags

  # Rolling deploys keep every replica serving: the queue holds the work, not the tasks.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = concat([aws_security_group.task.id], var.security_group_ids)
    assign_public_ip = var.assign_public_ip
  }

  dynamic "load_balancer" {
    for_each = var.create_load_balancer ? [aws_lb_target_group.this[0].arn] : (var.target_group_arn == null ? [] : [var.target_group_arn])

    content {
      target_group_arn = load_balancer.value
      container_name   = "gitops"
      container_port   = local.container_port
    }
  }

  depends_on = [aws_lb_listener.this]
}
